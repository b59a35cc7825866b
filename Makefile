# The two commands a newcomer needs (see README.md):
#   make up    install, migrate, seed and start every service on this machine's Postgres and Redis
#   make test  install (with the Debian packages some tests drive) and run the whole test suite
.PHONY: up test bench install

install:
	@bash infra/scripts/install.sh

# Not through `pnpm start`: pnpm kills its children when it gets Ctrl-C/SIGTERM, before the
# services have logged their graceful stop. node_modules/.bin first: its `node` is the pinned Node 24.
# --conditions=development: workspace packages resolve to their TypeScript sources (tsx runs them);
# production runs the compiled build instead (`pnpm build`, then `node dist/main.js`).
up: install
	@PATH="$(CURDIR)/node_modules/.bin:$$PATH" exec node --conditions=development --import tsx infra/scripts/up.ts

test: install
	@bash infra/scripts/install-test-tools.sh
	@pnpm test

bench: install
	@pnpm bench
