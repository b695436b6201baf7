#!/usr/bin/env bash
# The public API as jsii publishes it (Python, Java, Go, .NET): compiles the library with jsii, checks
# that lib/index.ts exports nothing jsii drops (free functions, constants), and that API.md is
# jsii-docgen's output for it. --write regenerates API.md instead of comparing.
set -euo pipefail
cd "$(dirname "$0")/.."
# npm run build is jsii. Its silenced warnings: `namespace` is the Kubernetes word (cdk8s-plus uses it
# too), reserved only in C#; and we develop on newer cdk8s releases than the peer ranges' floor, which
# test/consumer.test.ts installs and checks.
npm run --silent build
node -e '
  const assembly = JSON.parse(require("fs").readFileSync(".jsii", "utf8"));
  const published = new Set(Object.values(assembly.types).map((t) => t.name));
  const extra = Object.keys(require("./build/lib/index.js")).filter((name) => !published.has(name));
  if (extra.length) {
    console.error(`lib/index.ts exports ${extra.join(", ")}, which jsii does not publish (not a class or an enum): ` +
      "export only constructs, props, enums and the types they need; import the rest from its module");
    process.exit(1);
  }'
if [[ ${1:-} == --write ]]; then
  npx jsii-docgen -o API.md
  exit 0
fi
generated=$(mktemp --suffix=.md)
trap 'rm -f "$generated"' EXIT
npx jsii-docgen -o "$generated"
if ! cmp -s "$generated" API.md; then
  diff -u API.md "$generated" | head -40 >&2 || true
  echo "API.md is not jsii-docgen's output for the public API: run npm run api -- --write and commit API.md" >&2
  exit 1
fi
echo "jsii: compiled; API.md matches"
