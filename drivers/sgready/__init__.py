"""SG-Ready heat pumps switched through the two contacts of a relay board.

The SG-Ready label defines four operating states signalled on two contacts (relay A, relay B):

=====  ===========  =======  =======  ================================================
state  name         relay A  relay B  meaning
=====  ===========  =======  =======  ================================================
1      Blocked      on       off      the grid operator's block (EVU-Sperre)
2      Normal       off      off      energy-efficient normal operation
3      Recommended  off      on       switch-on recommendation: run more, use surplus
4      Forced       on       on       definitive start command
=====  ===========  =======  =======  ================================================

``kmtronic_udp`` speaks the KMTronic LAN relay boards' UDP command protocol; ``driver`` holds
the minimum dwell time per state (heat pumps are damaged by fast toggling), the relay read-back
and the ``DriverType``; ``plugin`` registers it.
"""
