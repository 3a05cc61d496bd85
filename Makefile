# Convenience aliases for tools/dev (which works without make on a bare machine).
.PHONY: run test build
run:
	tools/dev run
test:
	tools/dev test
build:
	tools/dev build
