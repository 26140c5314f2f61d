# Quick start: `make demo` (a router in network namespaces) and `make test` (everything CI
# runs). Both install what they need; both need root for network namespaces.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup build demo test lint bench image image-test
setup:
	scripts/setup.sh

build: setup
	cargo build --release --locked

demo: build
	scripts/demo-netns.sh

lint: setup
	cargo fmt --all --check
	cargo clippy --locked --all-targets -- -D warnings

# Unit, golden, property and namespace tests (root), then the demo as a smoke test.
test: lint
	cargo test --locked
	cargo build --release --locked
	scripts/demo-netns.sh > /dev/null

bench: build
	bench/routes.sh

# The RAM-only router image (image-recipe/out/) and its boot test under qemu.
image: build
	image-recipe/build.sh

image-test: build
	image-recipe/smoke-test.sh
