"""The proxy runs as a web app under the Lambda Web Adapter (``run.sh``), not as a handler."""
