# Sourced by ci/kind-nightly.sh and ci/lint.sh. image_maps MANIFEST prints the FROM=TO lines of
# fixtures/images.txt that serve MANIFEST (a path such as fixtures/official.yaml): those under a
# `# fixtures/...` line that names it among its space-separated fixtures, up to the next such line.
image_maps() {
  awk -v m="$1" '/^# fixtures\// { on = 0; for (i = 2; i <= NF; i++) if ($i == m) on = 1; next } on && /=/ && !/^#/ { print }' fixtures/images.txt
}
