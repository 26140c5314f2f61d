# Quick start: `make demo` (the RAM-only router image booted in qemu against the store
# server on this machine) and `make test` (everything CI runs). Both install what they
# need; both need root (network namespaces, the image's chroot).
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup build demo demo-netns test lint bench image image-test vm-test
setup:
	scripts/setup.sh

build: setup
	cargo build --release --locked

# The image, the store server with configs/vm-demo.toml, the router booted in qemu.
demo: image
	scripts/demo-vm.sh

# The agent alone, against a router in network namespaces on this machine.
demo-netns: build
	scripts/demo-netns.sh

lint: setup
	cargo fmt --all --check
	cargo clippy --locked --all-targets -- -D warnings
	# The pure crate builds alone and reaches nothing outside: no kernel, network or clock.
	cargo check --locked -p router-model --all-targets
	! cargo tree --locked -p router-model -e normal --prefix none \
	    | grep -E '^(tokio|netlink|rustix|libc|reqwest|hyper|nix|socket2) '

# Unit, golden, property and namespace tests (root), the namespace demo as a smoke test,
# then the image: built and booted every way (kernel, ISO BIOS/UEFI, UKI: smoke-test.sh
# builds it first), and the VM tests.
test: lint
	cargo test --locked --workspace --exclude vm-tests
	cargo build --release --locked
	scripts/deb-test.sh
	scripts/demo-netns.sh > /dev/null
	image-recipe/smoke-test.sh
	vm-tests/run.sh

bench: build
	bench/routes.sh

# The RAM-only router image (image-recipe/out/) and its boot test under qemu.
image: build
	image-recipe/build.sh

image-test: image
	image-recipe/smoke-test.sh

vm-test: image
	vm-tests/run.sh
