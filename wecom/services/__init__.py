"""Every write of the WeCom connector: configuration, accepted callbacks, their effects."""
