package pages

// accountRoutes are the storefront's cart, checkout and account pages.
func accountRoutes() []pageRoute {
	return nil
}
