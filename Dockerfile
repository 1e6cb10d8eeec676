# The image every Outlast service in docker-compose.yml runs: workers, beat, Flower and the
# health API.
# Build: docker build -t outlast .   Run one part: docker run --env-file .env outlast worker
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# Extras: local (Flower, the embedded Redis), notify (Slack and Twilio clients for alerts),
# api (FastAPI and uvicorn for `outlast api`).
RUN pip install ".[local,notify,api]"

# Workers never run as root: a task's code runs with no more rights than it needs.
RUN useradd --create-home --uid 10001 outlast
USER outlast

ENTRYPOINT ["outlast"]
CMD ["--help"]
