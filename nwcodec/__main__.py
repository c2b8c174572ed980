"""``python -m nwcodec`` runs the ``nwc`` command line."""

from cli.app import main

main()
