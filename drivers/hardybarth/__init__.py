"""Hardy Barth / echarge cPH1 and cPµ1: the local HTTP/JSON API of their eCB1 controller.

* ``link`` - ``EcbLink``: ``GET /api/v1/chargecontrols/{id}`` and ``/meters/{id}`` into points,
  the current limit as ``POST .../mode/manual/ampere``, pause and resume as ``.../stop`` and
  ``.../start``, the ``manual`` mode set once per connection;
* ``plugin`` - the ``ecb1_charge_control`` driver type.
"""
