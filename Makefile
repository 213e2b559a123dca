# Parley. Two commands: `make run` and `make test`; both install what they need
# (`make dev` for development: DEBUG and auto-reload).
HOST ?= 127.0.0.1
PORT ?= 8000
PY := .venv/bin/python
# PostgreSQL and Redis for the second test pass (started by .ci/run in CI).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run dev serve test install install-test messages lint bench clean screenshots

install:
	@scripts/install

install-test:
	@scripts/install test

# Translations are compiled at build time (*.mo are not committed).
messages:
	@$(PY) manage.py compilemessages --ignore .venv -v 0

# The way production serves (Daphne, DEBUG off, static files collected and
# served by WhiteNoise), over plain http on localhost or a LAN address
# (HOST=0.0.0.0). Without DJANGO_SECRET_KEY a key is written once to .secret_key
# (mode 0600). Behind TLS, PARLEY_HTTPS=true turns on the HTTPS-only settings.
run: install messages
	@$(PY) -m chatsite.secret_key
	@DJANGO_DEBUG=false $(PY) manage.py collectstatic --noinput -v 0
	@DJANGO_DEBUG=false $(PY) manage.py migrate --noinput -v 0
	@echo ""
	@echo "  Parley is starting on http://$(HOST):$(PORT)/  (sign up on that page to chat)"
	@echo "  Make an admin:  .venv/bin/python manage.py createsuperuser  (then open /admin/)"
	@echo "  The embedded demo model answers with no key; set OPENAI_API_KEY for OpenAI models."
	@echo ""
	@DJANGO_DEBUG=false $(PY) -m chatsite.serve -b $(HOST) -p $(PORT) $(if $(WORKERS),--workers $(WORKERS))

# Development: Django's debug pages and auto-reload on every code change.
dev: install messages
	@DJANGO_DEBUG=true $(PY) manage.py migrate --noinput -v 0
	@DJANGO_DEBUG=true $(PY) manage.py runserver $(HOST):$(PORT)

# Daphne workers on one port (chatsite/serve.py): one per core with REDIS_URL
# set, else one (the in-memory channel layer serves one process). WORKERS=n.
# Settings as given (DJANGO_DEBUG, DJANGO_SECRET_KEY...), for deployments.
serve: install messages
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) -m chatsite.serve -b $(HOST) -p $(PORT) $(if $(WORKERS),--workers $(WORKERS))

test: install-test messages
	@echo "==> Tests on SQLite with the in-memory channel layer"
	@$(PY) -m pytest
	@if scripts/services-up; then \
		echo "==> Tests on PostgreSQL with the Redis channel layer"; \
		DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -m "not browser and not embedded"; \
	else \
		echo "==> PostgreSQL or Redis not reachable here: skipped the second pass (CI starts them)"; \
	fi
	@$(PY) -m ruff check .

# Every page at 375, 768 and 1366 px, light and dark, English and Korean, as PNG
# files in screenshots/ (git-ignored) to look at; the same walk is a browser test.
screenshots: install-test messages
	@rm -rf screenshots && mkdir -p screenshots
	@PARLEY_SCREENSHOTS=$(CURDIR)/screenshots $(PY) -m pytest tests/e2e/test_pages_browser.py -q
	@echo "==> $$(ls screenshots | wc -l) screenshots in screenshots/"

lint: install-test
	@$(PY) -m ruff check .

bench: install
	@$(PY) bench/prompt_build.py

clean:
	rm -rf .venv staticfiles test-db.sqlite3*
