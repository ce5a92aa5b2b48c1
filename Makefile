# mifq — the README's first two commands: `make demo` and `make test`.
SWIFT ?= swift
BIN := .build/release/mifq
DEMO := demo-out

.PHONY: demo test build release deps bench clean

# Install the system libraries when missing (Debian/Ubuntu; needs root or sudo).
deps:
	@if ! pkg-config --exists libtiff-4 openblas 2>/dev/null; then \
	  echo "installing libtiff-dev and libopenblas-dev"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libtiff-dev libopenblas-dev pkg-config zlib1g-dev >/dev/null; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build
	$(SWIFT) test --parallel
	@OPTIONAL=1 bash workflow/check.sh

demo: release
	@bash scripts/demo.sh $(BIN) $(DEMO)

bench: release
	@bash Benchmarks/run.sh

clean:
	rm -rf .build $(DEMO)
