"""One module per channel. Each takes a Delivery and transmits it; none writes the Delivery row
(notifications.services does, under a lock). ``registry.channel_get`` maps a channel name to one."""
