// Command etcd is the stock etcd server (go.etcd.io/etcd/server/v3/etcdmain),
// built from the Go module proxy so the test control plane needs no downloads
// beyond the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
