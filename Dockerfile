FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY webmail webmail
COPY accounts accounts
COPY templates templates
COPY static static
COPY manage.py Procfile ./
RUN pip install --no-cache-dir . && useradd --system --home /data postfach \
    && mkdir -p /data && chown postfach /data \
    && DATA_DIR=/tmp/build python manage.py collectstatic --noinput -v 0 && rm -rf /tmp/build
USER postfach
EXPOSE 8000
CMD ["gunicorn", "webmail.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
