# Every target creates .venv and installs the project (with the dev extra) when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROTOS := $(shell find proto -name '*.proto' | sort)
PORT   ?= 50051

.PHONY: run demo test proto bench lint contracts clean cluster

$(STAMP): pyproject.toml sdk/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ./sdk -e '.[dev]'
	touch $(STAMP)

## make run: the whole mesh on the embedded default (SQLite file, dev tokens), Prometheus metrics on 127.0.0.1:9464
run: $(STAMP)
	$(BIN)/polytraders-gov serve --port $(PORT) --tokens-file config/dev-tokens.toml --upgrade --metrics-port 9464

## make demo: a mesh (SQLite in .demo/), a simulated fleet of 20 bots driven through the SDK for 5 minutes,
## and the console on http://127.0.0.1:8080 (sign in with dev-auditor-token); Ctrl-C stops it all
demo: $(STAMP)
	$(BIN)/polytraders-gov demo --serve .demo --console-port 8080 --bots 20 --minutes 5 --stay

## make cluster: the mesh split into three processes (deploy/Procfile) on PostgreSQL + NATS JetStream, under honcho
CLUSTER_DB ?= postgresql://postgres@127.0.0.1:5432/polytraders_cluster
cluster: $(STAMP)
	psql -h 127.0.0.1 -U postgres -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'polytraders_cluster'" | grep -q 1 \
	  || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE polytraders_cluster"
	$(BIN)/polytraders-gov db upgrade --database-url $(CLUSTER_DB)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho -f deploy/Procfile -d . start

## make test: the whole suite, SQLite and PostgreSQL, on every core (pytest-xdist)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto $(PYTEST_ARGS)

## make proto: regenerate _pb2 and _pb2_grpc into sdk/ (committed), with mypy-protobuf's typed stubs of both
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iproto --plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy \
	  --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
	  --python_out=sdk --mypy_out=sdk --grpc_python_out=sdk --mypy_grpc_out=sdk $(PROTOS)

## make bench: figures beside their ceilings; writes benchmarks/results.json
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## make lint: buf lint, ruff and mypy (strict)
lint: $(STAMP)
	$(BIN)/buf lint
	$(BIN)/ruff check sdk/polytraders/sdk servers clients tests benchmarks examples
	$(BIN)/mypy -p polytraders.sdk -p polytraders.servers -p polytraders.clients -p benchmarks

## make contracts: recompile the test contracts (needs node and npm; the artefacts are committed)
contracts:
	npx --yes solc@0.8.28 --bin --abi --optimize -o contracts/build contracts/TestPUSD.sol contracts/TestConditionalTokens.sol

clean:
	rm -rf $(VENV)
