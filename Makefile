# The one place that knows how to set up, lint, test and run redis_tuned.
#   make demo   deploy to a local throwaway container host (Debian 12) and verify it
#   make test   every quality gate: lint, pytest, molecule (what CI runs)
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(CURDIR)/.config/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export REDIS_TUNED_NOFILE_HARD := $(shell ulimit -Hn)
# prometheus-redis-exporter and prometheus (promtool): the monitoring tests;
# openssl: the tests' own certificate authorities (pytest and molecule);
# openssh-client: Ansible reaches the molecule containers over SSH.
SYSTEM_PACKAGES := podman runc debootstrap redis-server redis-tools iproute2 util-linux \
	prometheus-redis-exporter prometheus openssl openssh-client

.PHONY: setup system venv images lint pytest molecule test bench bench-loadtest bench-capacity bench-rerun bench-rolling demo demo-clean clean role-artifact

setup: system venv images

# System packages, installed only when one is missing (apt needs root). With
# their recommends: podman's networking (netavark/CNI, iptables, catatonit) comes
# that way. A service that a package installed here just started is stopped; a
# Redis or Prometheus that ran on this machine before is left alone.
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi; \
	for s in redis-server prometheus-redis-exporter prometheus; do \
	  case " $$missing " in *" $$s "*) \
	    if command -v systemctl >/dev/null && systemctl is-active -q $$s 2>/dev/null; then \
	      echo "stopping $$s, started by its package just installed (the tests run their own)"; \
	      systemctl disable --now $$s; \
	    fi;; \
	  esac; \
	done

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	ansible-galaxy collection install -r requirements.yml >/dev/null
	touch $@

venv: $(VENV)/.installed

images: system venv
	redis-tuned-images debian12 debian13

lint: venv
	yamllint --strict .
	ansible-lint --profile production
	ruff check .
	ruff format --check .
	mypy
	mypy roles/redis_tuned/action_plugins  # apart: its module has the same name as the library one

pytest: venv system images
	pytest

# Both scenarios: default (three hosts, one instance each of every kind) and ha (three
# hosts, one replication group, a Sentinel each), ha beside default (they share
# nothing, and mostly wait): scripts/molecule-scenarios.sh. Each log is kept
# (.molecule-<s>.log); when a run fails, its failed tasks and tests are printed last,
# where CI's view of the output ends (scripts/redis_tuned_dev/failures.py).
MOLECULE_SCENARIOS := default ha
molecule: images
	@TIMES=$(TIMES) scripts/molecule-scenarios.sh $(PY) $(MOLECULE_SCENARIOS)

# Every stage in turn, each timed: the breakdown is printed last (.test-times).
TIMES := $(CURDIR)/.test-times
test:
	@rm -f $(TIMES); set -e; for stage in setup lint pytest molecule; do \
	  start=$$(date +%s); $(MAKE) --no-print-directory $$stage; \
	  echo "$$stage: $$(( $$(date +%s) - start )) s" >> $(TIMES); \
	done; echo; echo "# make test, each stage's time:"; cat $(TIMES)

# Figures, not pass/fail: the verifier against redis-benchmark on a loopback server,
# then the guide's stress test against the demo host (make demo first).
bench: venv system
	python benchmarks/verify_latency.py
	python benchmarks/exporter_scrape.py
	$(MAKE) --no-print-directory bench-loadtest
	$(MAKE) --no-print-directory bench-capacity

# redis-tuned-loadtest against the demo host's two instances, as its app user, INFO read
# as the role's verify user; run inside the container's network namespace: they are
# bound to loopback there, and the package-default baseline
# the tool starts sits on that same loopback. LOADTEST_ARGS: more flags (--clients ...).
LOADTEST_OUT := benchmarks/results/loadtest
bench-loadtest: venv system
	@pid=$$(podman inspect -f '{{.State.Pid}}' redis-tuned-demo 2>/dev/null); \
	if [ -z "$$pid" ] || [ "$$pid" = 0 ]; then echo "no running demo host: make demo first"; exit 2; fi; \
	REDIS_CHANNELS_PASSWORD="$$(cat $(DEMO_DIR)/secrets/channels-app)" \
	REDIS_CACHE_PASSWORD="$$(cat $(DEMO_DIR)/secrets/cache-app)" \
	REDIS_MONITOR_PASSWORD="$$(podman exec redis-tuned-demo sh -c 'cat /etc/*/redis_tuned/verify.secret')" \
	REDIS_TUNED_LOADTEST_VIA="make bench-loadtest: nsenter -n into the redis-tuned-demo container" \
	nsenter -t "$$pid" -n $(CURDIR)/$(VENV)/bin/redis-tuned-loadtest $(DEMO_URLS) \
	  --monitor-user redis-tuned-verify --out $(LOADTEST_OUT) $(LOADTEST_ARGS)

# redis-tuned-loadtest capacity against the demo host's channels instance, as bench-loadtest
# runs the load test (its network namespace), TCP and the instance's unix socket (reached
# through the container's root): the knee of each setup, what limits it, Redis's ceiling.
# CAPACITY_ARGS: more flags (--clients 1000 --repeats 1 for a shorter one).
CAPACITY_OUT := benchmarks/results/capacity
CAPACITY_ARGS ?= --clients 5000 --repeats 2 --step-duration 12 \
  --setups core,core+2,pubsub,core+per-request,core+gc-freeze,core+2+gc-freeze,core+unix+gc-freeze \
  --rates 25,50,100,200,300,400,600,800,1000,1500,2000,3000
bench-capacity: venv system
	@pid=$$(podman inspect -f '{{.State.Pid}}' redis-tuned-demo 2>/dev/null); \
	if [ -z "$$pid" ] || [ "$$pid" = 0 ]; then echo "no running demo host: make demo first"; exit 2; fi; \
	sock=$$(ls /proc/$$pid/root/run/*-channels/*-server.sock 2>/dev/null | head -1); \
	REDIS_CHANNELS_PASSWORD="$$(cat $(DEMO_DIR)/secrets/channels-app)" \
	REDIS_CACHE_PASSWORD="$$(cat $(DEMO_DIR)/secrets/cache-app)" \
	REDIS_MONITOR_PASSWORD="$$(podman exec redis-tuned-demo sh -c 'cat /etc/*/redis_tuned/verify.secret')" \
	REDIS_TUNED_LOADTEST_VIA="make bench-capacity: nsenter -n into the redis-tuned-demo container" \
	nsenter -t "$$pid" -n $(CURDIR)/$(VENV)/bin/redis-tuned-loadtest capacity $(DEMO_URLS) \
	  --monitor-user redis-tuned-verify $${sock:+--unix-socket $$sock} --out $(CAPACITY_OUT) $(CAPACITY_ARGS)

# The rolling restart's cost to writing clients (HA with and without the write pause, a
# single instance), on the ha scenario's containers: benchmarks/results/rolling-restart.md.
bench-rolling: images
	molecule create -s ha && molecule converge -s ha && python benchmarks/rolling_restart.py; \
	rc=$$?; molecule destroy -s ha; exit $$rc

# The idempotent rerun against another Redis role, over SSH: OTHER_ROLE=<checkout>.
bench-rerun: setup
	@test -n "$(OTHER_ROLE)" || { echo "make bench-rerun OTHER_ROLE=<path to the other role>"; exit 2; }
	python benchmarks/idempotent_rerun.py --other-role "$(OTHER_ROLE)"

# The demo's shape is the example inventory's: channels on 6379 and cache on 6380, each
# with the ACL user app (inventory/demo); its passwords are made here, in .demo/secrets/.
# DEMO_SERVER=valkey: the same on Debian 13's Valkey (make demo-clean between the two:
# the role refuses to switch a host's instances to the other server).
DEMO_SERVER ?= redis
DEMO_DIR := .demo
DEMO_URLS := --channels-url redis://app@127.0.0.1:6379/0 --cache-url redis://app@127.0.0.1:6380/0
DEMO_VIEWS := $(DEMO_DIR)/views/redis-tuned-demo
demo: setup
	ansible-playbook playbooks/demo-host.yml -e demo_server=$(DEMO_SERVER)
	ansible-playbook -i inventory/demo playbooks/site.yml -e redis_tuned_server=$(DEMO_SERVER)
	@echo; echo "# The Django settings for the demo (redis-tuned-clients settings, from its views):"
	@redis-tuned-clients settings $(DEMO_URLS) --expect-file $(DEMO_VIEWS)/channels.json \
	  --expect-file $(DEMO_VIEWS)/cache.json
	@echo "# The app's passwords: $(DEMO_DIR)/secrets/channels-app and cache-app, as"
	@echo "# \$$REDIS_CHANNELS_PASSWORD and \$$REDIS_CACHE_PASSWORD. The instances listen on the"
	@echo "# demo host's loopback: run the load test in its network namespace with"
	@echo "#   make bench-loadtest    (LOADTEST_ARGS='--clients 50' for a shorter one)"

# The role as a versioned artifact for ansible-galaxy: dist/redis_tuned-<version>.tar.gz.
role-artifact: venv
	$(PY) -m redis_tuned_dev.artifact --out dist

demo-clean:
	podman rm -f redis-tuned-demo
	rm -rf $(DEMO_DIR)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
