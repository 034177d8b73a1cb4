package pages

// commerceConsoleRoutes are the console's commerce pages: orders, catalog,
// pricing, users and roles, API keys, webhooks.
func commerceConsoleRoutes() []pageRoute {
	return nil
}

// commerceSections are their entries in the console's menu.
func commerceSections() []consoleSection {
	return nil
}
