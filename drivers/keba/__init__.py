"""KEBA KeContact P30 (c-series, x-series, Deutschland Edition): the UDP text protocol on port 7090.

* ``protocol`` - datagrams: commands out, ``TCH-OK :done`` / ``TCH-ERR`` / JSON reports in, and
  the report fields as model points (pure functions, no sockets);
* ``link`` - one UDP socket per local address shared by every KEBA of a site (the stations always
  answer to port 7090), replies matched to their station by sender address, one command in flight
  per station with the minimum pause between datagrams;
* ``plugin`` - the ``keba_udp`` driver type: profile and connection schemas, ``create``.

The x-series' Modbus TCP interface is a plain Modbus profile (``keba_p30_modbus``).
"""
