"""The Pulumi program's components: one module per concern, each a ComponentResource."""
