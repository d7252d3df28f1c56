"""Hardy Barth eCB1 charge controller as a meter: its local HTTP/JSON API (``/api/v1/meters``)."""
