# gateway-sim as a service container: `docker build -t gateway-sim .` then
# `docker run --rm -p 8080:8080 gateway-sim`. tests/test_docker.py replays this file in a fresh
# virtual environment (install, ENTRYPOINT + CMD, HEALTHCHECK) and hadolint lints it.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GATEWAY_SIM_HOST=0.0.0.0 \
    GATEWAY_SIM_PORT=8080

# A user without a login, and the two mount points it may write to.
RUN useradd --system --no-log-init --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin gateway \
    && mkdir /scenarios /data \
    && chown gateway /scenarios /data

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml changes. The `postgres`
# extra too (psycopg with its own libpq, about 13 MB), so that one image serves alone on SQLite
# and as a replica on PostgreSQL (deploy/compose.yaml).
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres']))" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt \
    && rm requirements.txt

# Then the package itself, without touching the dependencies again.
COPY README.md ./
COPY gateway_sim ./gateway_sim
RUN pip install --no-cache-dir --no-deps .

# A host folder bind-mounted at /data keeps its host owner: the start then stops with one line
# naming this uid and the fix (`docker run --user` the folder's owner, or `chown 10001` it).
USER 10001
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["gateway-sim", "healthcheck"]
ENTRYPOINT ["gateway-sim"]
CMD ["serve"]
