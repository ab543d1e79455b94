package client

// The generated part (client.gen.go) comes from openapi.json, the document the gateway
// serves at /api/openapi.json. The first step refreshes openapi.json from a gateway
// booted by the package's tests (TestOpenAPIDocumentIsCurrent fails while the copy is
// stale); the second runs oapi-codegen at a pinned version, nothing to install.
//
//go:generate go test -run TestOpenAPIDocumentIsCurrent -update-openapi .
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml openapi.json
