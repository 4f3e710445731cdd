"""Entry point: load the configuration, build the application, run it (``python server.py [--config FILE]``)."""

from gateway.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", *__import__("sys").argv[1:]]))
