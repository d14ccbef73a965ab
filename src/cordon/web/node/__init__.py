"""The node's pages (one module per area, registered in `cordon.web.node_ui`)."""
