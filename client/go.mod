module github.com/agentauri/apikeys/client

go 1.26.8
