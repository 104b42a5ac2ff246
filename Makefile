# The README's commands. Each target installs what it needs (virtualenvs under the checkout) first.
PYTHON ?= python3.11
VENV := .venv
SAM_VENV := .venv-sam
CHECKS_VENV := .venv-checks
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export PYTHONPATH := $(CURDIR):$(CURDIR)/shared
# sam and cfn-lint need a region; nothing here talks to AWS.
export AWS_DEFAULT_REGION ?= ap-northeast-1
export SAM_CLI_TELEMETRY := 0

COMPANY ?= acme
ROLE ?= member

.PHONY: run test test-thorough demo bench token redrive lint validate build deploy lock unit integration browser clean

# The lock's versions as constraints (without its hashes, which would demand hashes of every dev package too):
# the tests run the versions DepsLayer ships.
$(VENV)/.installed: requirements-dev.txt layers/deps/requirements.txt layers/deps/requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\).*/\1/p' layers/deps/requirements.lock > $(VENV)/lock-constraints.txt
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt -c $(VENV)/lock-constraints.txt
	touch $@

# aws-sam-cli pins versions that clash with the app's, so it lives in a virtualenv of its own.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet "aws-sam-cli==1.170.0"
	touch $@

# checkov and AWS's serverless rules for cfn-lint (requirements-checks.txt): their pins clash with the app's too.
$(CHECKS_VENV)/.installed: requirements-checks.txt
	$(PYTHON) -m venv $(CHECKS_VENV)
	$(CHECKS_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKS_VENV)/bin/pip install --quiet -r requirements-checks.txt
	touch $@

# Debian's chromium and chromedriver for the browser tests (linking flows, the console), and a CJK font so the
# console's Japanese screenshots are readable (needs root and apt).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list :lang=ja | grep -q . || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk)

## make run [ARGS="--api-port 3001 --clean ..."]: the local stack (moto, gateway, pollers, sandbox) in the
## foreground; its state is kept in .local/ across restarts (ARGS=--clean starts empty).
run: $(VENV)/.installed
	$(PY) -m infra.local_stack $(ARGS)

## make test: everything CI runs: lint, template checks, unit, contract, sandbox and integration tests
## (hypothesis's quick profile: tests/fuzzing.py).
test: lint validate build browser
	$(PY) -m infra.test_run

## make test-thorough: the same with hypothesis's thorough profile (ten times the examples; not run by CI).
test-thorough: lint validate build browser
	HYPOTHESIS_PROFILE=thorough $(PY) -m infra.test_run

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## make validate: cfn-lint (its own rules and AWS's serverless rules), sam validate --lint, checkov; skipped rules and why
## they do not apply: .cfnlintrc.yaml, .checkov.yaml.
validate: $(SAM_VENV)/.installed $(CHECKS_VENV)/.installed
	$(CHECKS_VENV)/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(SAM) validate --lint --template template.yaml
	$(CHECKS_VENV)/bin/checkov --config-file .checkov.yaml --file template.yaml

## make demo: a scripted tour on a fresh local stack.
demo: $(VENV)/.installed
	$(PY) -m infra.demo

## make bench [ARGS="--quick" or "--parts 9 --latency realistic ..."]: the benchmark (figures printed, nothing
## asserted; `python -m infra.bench --help` lists the options).
bench: $(VENV)/.installed
	$(PY) -m infra.bench $(ARGS)

## make token COMPANY=acme USER_ID=someone@acme.example ROLE=admin: a dev token for the running local stack.
## (USER_ID, not USER: the shell's $USER, the login name, would silently become the token's user.)
token: $(VENV)/.installed
	@$(if $(strip $(USER_ID)),,$(error USER_ID is empty: make token USER_ID=someone@acme.example COMPANY=acme ROLE=member))
	@$(PY) -m infra.local_stack.token --company "$(COMPANY)" --user "$(USER_ID)" --role "$(ROLE)"

## make redrive DLQ=SendSlackDLQ: move a dead-letter queue's messages back to their queue (running local stack;
## add STACK=<name> for a deployed one).
redrive: $(VENV)/.installed
	$(PY) -m infra.redrive "$(DLQ)" $(if $(STACK),--stack-name "$(STACK)")

## make build: sam build (deployable arm64 artifacts in .aws-sam/). The layers come from their Makefiles
## (layers/deps/, shared/: the locked wheels, compiled); the handler modules are compiled here, after sam build.
build: $(SAM_VENV)/.installed
	$(SAM) build --template template.yaml $(SAM_BUILD_ARGS)
	@for function in .aws-sam/build/*/; do \
	  case "$$function" in *Layer/) continue;; esac; \
	  $(PYTHON) -m compileall -q -f --invalidation-mode unchecked-hash -s "$$function" -p /var/task "$$function" || exit 1; \
	done

## make lock: re-resolve layers/deps/requirements.txt into requirements.lock (after changing a pin there).
## Only Python and pip: the dev virtualenv is installed from the lock, so it cannot be a prerequisite.
lock:
	$(PYTHON) infra/lock.py

## make deploy ENV=stg: sam build, then sam deploy with samconfig.toml's [ENV] settings (dev, stg or prod);
## SAM_DEPLOY_ARGS adds sam deploy options (e.g. --no-confirm-changeset for prod from CI).
DEPLOY_ENVS := dev stg prod
deploy: $(SAM_VENV)/.installed
	@$(if $(and $(filter 1,$(words $(ENV))),$(filter $(ENV),$(DEPLOY_ENVS))),,$(error ENV must be one of: $(DEPLOY_ENVS) (got "$(ENV)")))
	$(MAKE) build SAM_BUILD_ARGS="--config-env $(ENV)"
	$(SAM) deploy --config-env $(ENV) $(SAM_DEPLOY_ARGS)

## make unit: the unit and contract tests, in two pytest runs side by side (infra/test_run.py --unit).
unit: $(VENV)/.installed
	$(PY) -m infra.test_run --unit

integration: $(VENV)/.installed
	$(PY) -m pytest tests/integration tests/sandbox

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKS_VENV) .aws-sam .local
