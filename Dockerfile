# wanbot: Slack bot for Wan 2.6 videos. Runs `python -m bot serve` (Socket Mode when SLACK_APP_TOKEN is set,
# else HTTP mode on $PORT with /slack/events, /healthz and /metrics).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WANBOT_DB=/data/wanbot.db \
    PORT=3000

RUN useradd --create-home --uid 10001 wanbot \
    && mkdir /data \
    && chown wanbot:wanbot /data

WORKDIR /app

# Dependencies first, in their own layer: code changes don't reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir bot && touch bot/__init__.py \
    && pip install . \
    && pip uninstall -y wanbot \
    && rm -rf bot

COPY bot ./bot
RUN pip install --no-deps .

USER 10001
VOLUME ["/data"]
EXPOSE 3000

# HTTP mode answers /healthz; in Socket Mode the same endpoint is served on $PORT too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

CMD ["python", "-m", "bot", "serve"]
