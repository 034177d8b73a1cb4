package pages

// securityConsoleRoutes are the console's security pages: findings, blocks,
// the fraud review queue, the audit log, posture and assurance.
func securityConsoleRoutes() []pageRoute {
	return nil
}

// securitySections are their entries in the console's menu.
func securitySections() []consoleSection {
	return nil
}
