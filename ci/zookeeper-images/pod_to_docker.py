"""pod_to_docker.py: turns one member of a fixture's StatefulSet into `docker run` arguments, for
ci/check-zookeeper-images.sh, which checks the ZooKeeper images without zk-chaos.

    python3 pod_to_docker.py MANIFEST ORDINAL NETWORK NAMESPACE RUN_LABEL PREFIX WORKDIR IMAGE_MAP...

Prints one JSON object: {"name", "run": [docker run arguments, image and command included], "volumes": [named
volumes to create], "readiness": [argv of the readiness probe], "uid": the UID the server must run as}.

It honours only what these fixtures use, and refuses anything else by name (a check that silently ignored a
field would test something other than the fixture): the container's command/args, env values and fieldRef
metadata.name/metadata.namespace, pod and container securityContext (runAsUser, runAsGroup, fsGroup,
readOnlyRootFilesystem, capabilities.drop, allowPrivilegeEscalation), volumeMounts of a volumeClaimTemplate
(a named volume), of an emptyDir (a fresh 0777 host directory; one per subPath) and of a ConfigMap key through subPath (a
read-only file), and the exec readiness probe. The pod gets the hostname a StatefulSet gives it, and network
aliases for POD, POD.SERVICE and POD.SERVICE.NAMESPACE.svc.cluster.local (what a headless Service resolves).
"""

import json
import os
import sys

import yaml


def refuse(what):
    sys.exit(f"pod_to_docker.py: {what}: not emulated by this check; extend ci/zookeeper-images/pod_to_docker.py")


def main():
    manifest, ordinal, network, namespace, run_label, prefix, workdir, *maps = sys.argv[1:]
    ordinal = int(ordinal)
    image_map = dict(m.split("=", 1) for m in maps)
    with open(manifest) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    sts = [d for d in docs if d.get("kind") == "StatefulSet"]
    if len(sts) != 1:
        sys.exit(f"pod_to_docker.py: {manifest}: expected one StatefulSet, found {len(sts)}")
    sts = sts[0]
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d.get("kind") == "ConfigMap"}
    spec = sts["spec"]
    service = spec["serviceName"]
    pod = f"{sts['metadata']['name']}-{ordinal}"
    fqdn_domain = f"{service}.{namespace}.svc.cluster.local"
    tmpl = spec["template"]["spec"]
    if len(tmpl["containers"]) != 1 or tmpl.get("initContainers"):
        refuse("a pod with other than one container")
    c = tmpl["containers"][0]
    image = image_map.get(c["image"], c["image"])
    psc = tmpl.get("securityContext", {})
    csc = c.get("securityContext", {})

    run = ["--name", f"{run_label}-{prefix}-{pod}", "--label", "zk-chaos.images-test=1",
           "--label", f"zk-chaos.images-test.run={run_label}", "--network", network,
           "--hostname", pod, "--domainname", fqdn_domain]
    for alias in (pod, f"{pod}.{service}", f"{pod}.{fqdn_domain}"):
        run += ["--network-alias", alias]
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    if uid is not None:
        run += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
    if "fsGroup" in psc:
        run += ["--group-add", str(psc["fsGroup"])]
    if csc.get("readOnlyRootFilesystem"):
        run.append("--read-only")
    for cap in csc.get("capabilities", {}).get("drop", []):
        run += ["--cap-drop", cap]
    if csc.get("allowPrivilegeEscalation") is False:
        run += ["--security-opt", "no-new-privileges"]

    for e in c.get("env", []):
        if "value" in e:
            value = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            value = pod
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            value = namespace
        else:
            refuse(f"env {e['name']} from {e.get('valueFrom')}")
        run += ["--env", f"{e['name']}={value}"]

    volumes = {v["name"]: v for v in tmpl.get("volumes", [])}
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    named = []
    for m in c.get("volumeMounts", []):
        name, path, sub = m["name"], m["mountPath"], m.get("subPath")
        if name in claims:
            if sub:
                refuse(f"subPath on the claim {name}")
            vol = f"{run_label}-{prefix}-{name}-{pod}"
            named.append(vol)
            run += ["--mount", f"type=volume,source={vol},target={path}"]
        elif "emptyDir" in volumes.get(name, {}):
            # A fresh host directory, mode 0777 as the kubelet makes an emptyDir (Docker 20.10's tmpfs mounts
            # ignore tmpfs-mode: root-owned 0775, which UID 1001 cannot write); one per subPath.
            host = os.path.join(workdir, "emptydir", f"{prefix}-{pod}-{name}-{sub or 'root'}")
            os.makedirs(host)
            os.chmod(host, 0o777)
            run += ["--mount", f"type=bind,source={host},target={path}"]
        elif "configMap" in volumes.get(name, {}):
            cm = volumes[name]["configMap"]
            if not sub:
                refuse(f"configMap volume {name} mounted without subPath")
            host = os.path.join(workdir, f"{prefix}-{pod}-{name}-{sub}")
            with open(host, "w") as f:
                f.write(configmaps[cm["name"]][sub])
            os.chmod(host, cm.get("defaultMode", 0o644))
            run += ["--mount", f"type=bind,source={host},target={path},readonly"]
        else:
            refuse(f"volume {name}")

    command, args = c.get("command"), c.get("args", [])
    if command:
        run += ["--entrypoint", command[0], image] + command[1:] + args
    else:
        run += [image] + args
    probe = c.get("readinessProbe", {}).get("exec", {}).get("command")
    if not probe:
        refuse("a readiness probe that is not exec")
    print(json.dumps({"name": f"{run_label}-{prefix}-{pod}", "run": run, "volumes": named, "readiness": probe,
                      "uid": uid, "pod": pod}))


if __name__ == "__main__":
    main()
