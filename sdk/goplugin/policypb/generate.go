// Package policypb is the generated Go code of policy.proto, the gRPC contract between
// wagate and go-plugin policy binaries. Plugin authors use the sdk/goplugin package
// instead; this one is for hosts and for plugins written against the wire contract.
package policypb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative policy.proto
