# The two commands a newcomer needs (see README.md):
#   make up    install, migrate, seed and start every service on this machine's Postgres and Redis
#   make test  install and run the whole test suite (typecheck, unit, integration, end to end)
.PHONY: up test bench install

install:
	@bash infra/scripts/install.sh

up: install
	@pnpm start

test: install
	@pnpm test

bench: install
	@pnpm bench
