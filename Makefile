# QAI backend: one command per job. Each creates the virtual environment it needs on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
# A stamp of our own: touching .venv/bin/python would follow its symlink to the system's Python.
INSTALLED := $(VENV)/.installed
export PYTHONPATH := layers/shared/python:functions/agent:functions/migrations:.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: system-deps test-deps web web-check publish-web dev test migrate bench openapi lint typecheck check sam-validate sam-build sam-check sam-invoke ci clean e2b-template

$(INSTALLED): requirements-dev.txt layers/shared/requirements.txt functions/agent/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(INSTALLED)

$(SAM): requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $(SAM)

## system-deps: OS packages the local sandbox needs (bubblewrap), with apt-get when missing
system-deps:
	bash scripts/system-deps.sh

## test-deps: and the browser the web client's tests drive (Debian's chromium)
test-deps:
	bash scripts/system-deps.sh chromium

## web: build the web client (web/dist) when its sources, lockfile or openapi.json changed
web: web/dist/index.html

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web/dist/index.html: web/node_modules/.package-lock.json openapi.json web/index.html web/vite.config.ts web/tsconfig.json $(shell find web/src -type f ! -name schema.d.ts 2>/dev/null)
	cd web && npm run --silent build

## web-check: the web client's lint (ESLint) and unit tests (vitest), on the types made from openapi.json
web-check: web/node_modules/.package-lock.json
	cd web && npm run --silent types && npm run --silent lint && npm run --silent test

## publish-web: the built web client to a deployed stack's bucket (STACK=<name>, HostWebClient=true)
publish-web: $(INSTALLED) web
	$(PY) -m qai_tools.publish_web $(STACK) $(PUBLISH_ARGS)

## test: the whole test suite (real PostgreSQL, moto, scripted model server, the real app template)
test: $(INSTALLED) test-deps web web-check
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

## dev: start the whole system locally (API, queue, agent, database, previews)
dev: $(INSTALLED) system-deps web
	$(PY) -m qai_local.stack

## migrate: apply pending migrations to $DATABASE_URL
migrate: $(INSTALLED)
	$(PY) -m qai_tools.migrate

## openapi: rewrite openapi.json from the handlers
openapi: $(INSTALLED)
	$(PY) -m qai_tools.openapi

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(INSTALLED)
	$(PY) -m mypy layers/shared/python/qai functions qai_local qai_tools bench sandbox-template

## check: lint, types and tests
check: lint typecheck test

sam-validate: $(SAM)
	$(SAM) validate --lint

sam-build: $(SAM)
	$(SAM) build --build-dir .aws-sam/build

sam-check: sam-validate sam-build

ci: check sam-check

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache web/node_modules web/dist

## e2b-template: build and publish the E2B sandbox template (needs E2B_API_KEY)
e2b-template: $(INSTALLED)
	$(PY) sandbox-template/template.py

## bench: the agent's own overhead per run (zero-latency scripted model), edits against rewrites and streaming, diffs and git bundles, publishing, pointing at the app (runtime errors, images), the local sandbox, living apps, load; figures in bench/results.json
bench: $(INSTALLED) system-deps
	rm -f bench/results.json
	$(PY) bench/agent_overhead.py 50
	$(PY) bench/iterate.py 50
	$(PY) bench/versions.py 50
	$(PY) bench/publish.py 3000
	$(PY) bench/point_at_app.py 10
	$(PY) bench/local_sandbox.py 3
	$(PY) bench/living_apps.py 3
	$(PY) bench/load.py 200 20
	$(PY) bench/read_path.py 1000000
	$(PY) bench/results.py

## sam-invoke: each function on its sample event with `sam local invoke` (needs Docker and env.json)
sam-invoke: sam-build
	for pair in ProjectsFunction:projects/create.json ProjectsFunction:projects/list.json \
		ProjectsFunction:projects/get.json MessagesFunction:messages/list.json \
		MessagesFunction:messages/post.json MessagesFunction:messages/fragment.json AgentFunction:agent/sqs.json; do \
		$(SAM) local invoke $${pair%%:*} -t .aws-sam/build/template.yaml -e events/$${pair#*:} \
			$(if $(wildcard env.json),--env-vars env.json,) || exit 1; \
	done
