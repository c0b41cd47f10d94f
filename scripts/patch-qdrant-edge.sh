#!/usr/bin/env bash
# qdrant-edge 0.9.0 uses `std::debug_assert_matches`, which is still unstable on stable Rust, so the
# crate does not compile as published. We take the exact published crate (cargo downloads and
# checksums it), apply our two-line patch (scripts/qdrant-edge-0.9.0-stable.patch: the assertion
# becomes `debug_assert!(matches!(..))`, same meaning) and point `[patch.crates-io]` at the result.
# The copy lives in third_party/ (git-ignored); nothing third-party is committed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version=0.9.0
dest="$root/third_party/qdrant-edge"
stamp="$dest/.docent-patched-$version"

[[ -f "$stamp" ]] && exit 0

# Let cargo download (and verify) the published crate through a throw-away manifest.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
printf '[package]\nname = "fetch-qdrant-edge"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nqdrant-edge = "=%s"\n' \
  "$version" >"$work/Cargo.toml"
touch "$work/src/lib.rs"
echo "patch-qdrant-edge: fetching qdrant-edge $version"
cargo fetch --quiet --manifest-path "$work/Cargo.toml"

src="$(cargo metadata --format-version 1 --manifest-path "$work/Cargo.toml" |
  python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="qdrant-edge"))')"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
cp -r "$(dirname "$src")" "$dest"
patch --quiet -p1 -d "$dest" <"$root/scripts/qdrant-edge-0.9.0-stable.patch"
touch "$stamp"
echo "patch-qdrant-edge: patched copy ready in third_party/qdrant-edge"
