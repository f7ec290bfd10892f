// Package deploy holds no code: its test checks that docker-compose.yml and
// the kustomize manifests agree with the services they deploy (a Dockerfile
// per service, and only environment variables the service reads).
package deploy
