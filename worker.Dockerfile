# One image for every Coucou process: web (daphne), worker (celery) and Flower.
# The command picks the role; see docker-compose.yml and platform/Procfile.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The runtime set only: no test, check or bench tool in the image.
COPY requirements/runtime.lock requirements/
RUN pip install --no-cache-dir -r requirements/runtime.lock

COPY . .
RUN useradd --system --uid 1000 coucou \
    && DJANGO_SETTINGS_MODULE=config.settings SECRET_KEY=build-only DEBUG=0 ALLOWED_HOSTS=build \
       python manage.py collectstatic --noinput \
    && chown -R coucou /app
USER coucou

EXPOSE 8000 5555
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--ping-interval", "20", "--ping-timeout", "30", "config.asgi:application"]
