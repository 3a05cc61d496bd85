# Convenience aliases for tools/dev (which works without make on a bare machine).
.PHONY: run test build bench bench-micro deb
run:
	tools/dev run
test:
	tools/dev test
build:
	tools/dev build
# The Google Benchmark suites, saved as JSON under bench/results/ (compare two saved
# runs with: python3 bench/micro.py compare OLD.json NEW.json).
bench-micro:
	tools/dev build release
	python3 bench/micro.py run
# ringpost beside Postfix on the same load (bench/side_by_side.py, ~10 minutes): the
# table and charts land in bench/results/ (latest.md, latest-rate.png, ...).
bench:
	tools/dev build release
	python3 bench/side_by_side.py
# The Debian package (binaries, systemd unit, /etc/ringpost/ringpost.flags):
# build/deb/ringpost_VERSION_ARCH.deb.
deb:
	bash tools/package/build_deb.sh
