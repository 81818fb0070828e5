// Package deploy holds the acceptance tests of the ways Ballast is deployed: the Docker image
// (../Dockerfile, built by make image), the compose file (../docker-compose.yml) and an etcd
// compose file run with only its image changed (testdata/etcd-compose.yml). The Kubernetes
// manifests are in deploy/kubernetes, a nested module of their own (see its doc).
//
// The tests are behind the build tag docker (docker_test.go) and drive the docker and
// docker-compose (v1) commands with os/exec; make test runs them after make image:
//
//	make image && go test -tags docker -count=1 -v ./deploy/
//
// BALLAST_IMAGE names the image under test (default ballast:latest). A missing Docker engine,
// docker-compose or image fails the tests naming what is missing; they never skip.
//
// The package holds no code; it imports nothing of Ballast's.
package deploy
