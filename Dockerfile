# One image for web, worker and beat.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORTAL_VAR_DIR=/var/lib/portal
RUN apt-get update \
    && apt-get install -y --no-install-recommends drbd-utils openssh-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
RUN pip install --no-cache-dir -c requirements.lock .
COPY . .
RUN SECRET_KEY=build PORTAL_SECRETS_KEY=build-only-0123456789-abcdefghijklmnop python manage.py collectstatic --noinput
RUN useradd --system --home /var/lib/portal portal && mkdir -p /var/lib/portal \
    && chown portal /var/lib/portal
USER portal
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
