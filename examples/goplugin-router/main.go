// Command goplugin-router is a go-plugin route policy for wagate: it sends each message
// through the session configured for the recipient's country calling code. See
// README.md for building, pinning and configuring it.
package main

import "github.com/wagate/wagate/sdk/goplugin"

func main() { goplugin.Serve(&Router{}) }
