"""Views, one module per area; ``config.scan(".views")`` registers them. Every view declares its
permission (see :mod:`cati.web.security`)."""
