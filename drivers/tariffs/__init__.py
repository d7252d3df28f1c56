"""Dynamic tariffs: price sources (Tibber, aWATTar, Energy-Charts, ENTSO-E) as a driver."""
