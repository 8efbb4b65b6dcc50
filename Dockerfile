# polyrelay gateway image. Dependencies come from the hash-pinned lock file only.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements.lock \
 && pip install --no-cache-dir --no-deps . \
 && useradd --create-home --uid 10001 polyrelay \
 && mkdir -p /var/lib/polyrelay/spool && chown -R polyrelay /var/lib/polyrelay
USER polyrelay
ENV POLYRELAY_SPOOL_DIR=/var/lib/polyrelay/spool
EXPOSE 4000
ENTRYPOINT ["polyrelay", "--host", "0.0.0.0", "--port", "4000"]
CMD ["--config", "/etc/polyrelay/config.yaml"]
