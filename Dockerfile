FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY services services
COPY workers workers
COPY db db
RUN pip install --no-cache-dir .
ENV DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
CMD ["bgbot", "run"]
