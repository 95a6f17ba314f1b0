# The two commands the README opens with: `make demo` and `make test`.
# Both do their own set-up on a fresh Debian machine (system packages, then a venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := libportaudio2 xvfb xauth libxtst6 graphviz gnupg fonts-dejavu-core \
                fonts-wqy-microhei fonts-symbola dbus-daemon espeak-ng libopus0 redis-server \
                gcc libc6-dev linux-libc-dev python3-dev

.PHONY: demo test setup system-packages bench cluster

demo: setup
	$(PY) -m gossip --demo

test: setup
	$(PY) -m pytest

# Redis and three hubs on loopback as one cluster, a client on each, a message across hubs.
cluster: setup
	$(PY) scripts/cluster_demo.py

setup: $(VENV)/.installed

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml | system-packages
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@
