"""The platform's Pulumi policy pack; the rules live in `policy.rules`."""
