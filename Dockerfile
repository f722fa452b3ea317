# One image for web, worker and beat.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORTAL_VAR_DIR=/var/lib/portal
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
# python-ldap compiles against OpenLDAP and SASL headers; only their libraries stay.
RUN apt-get update \
    && apt-get install -y --no-install-recommends drbd-utils openssh-client \
       libldap-2.5-0 libsasl2-2 gcc libldap2-dev libsasl2-dev \
    && pip install --no-cache-dir -c requirements.lock . \
    && apt-get purge -y --auto-remove gcc libldap2-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN SECRET_KEY=build PORTAL_SECRETS_KEY=build python manage.py collectstatic --noinput
RUN useradd --system --home /var/lib/portal portal && mkdir -p /var/lib/portal \
    && chown portal /var/lib/portal
USER portal
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
