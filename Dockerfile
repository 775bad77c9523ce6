# Looking Inside, served by gunicorn. Build: docker build -t looking-inside .
# Run:   docker run -p 8050:8050 -v lookinside-data:/data -v lookinside-models:/models looking-inside
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    LOOKINSIDE_DATA_DIR=/data LOOKINSIDE_MODEL_DIR=/models LOOKINSIDE_JOBS_DIR=/tmp/lookinside-jobs \
    WEB_WORKERS=3

WORKDIR /app
# torch and torchvision from PyTorch's CPU-only wheel index: the default PyPI wheels bundle several GB of
# CUDA libraries that a CPU server never uses. The rest comes from PyPI; torch is then already satisfied.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch torchvision
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY gunicorn.conf.py .
COPY models/ models/
COPY app/ app/
COPY assets/ assets/
COPY checkpoints/*.pt checkpoints/

RUN useradd --create-home --uid 10001 lookinside \
    && mkdir -p /data /models && chown lookinside /data /models
USER lookinside
VOLUME ["/data", "/models"]
EXPOSE 8050

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/', timeout=4)"

# Seed the model volume with the shipped checkpoints (never overwriting), then serve on all interfaces:
# inside a container 0.0.0.0 is what makes the port reachable. Publish it only through the buffering
# proxy of docker-compose.yml (nginx), never straight to visitors: slow clients would hold its threads.
# gunicorn.conf.py preloads the app: the master loads everything once and the workers share it.
CMD ["sh", "-c", "cp -n checkpoints/*.pt \"$LOOKINSIDE_MODEL_DIR\"/ 2>/dev/null; exec gunicorn --workers \"$WEB_WORKERS\" --threads 4 --bind 0.0.0.0:8050 --timeout 120 app:server"]
