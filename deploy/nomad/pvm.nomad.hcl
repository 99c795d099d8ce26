# pvm daemon as a Nomad system job: one allocation per client node.
# The token comes from Nomad Variables (nomad var put nomad/jobs/pvm token=...).
job "pvm" {
  type = "system"

  group "pvm" {
    network {
      port "api" {
        static = 7070
      }
      port "http" {
        static = 7071
      }
    }

    service {
      name     = "pvm"
      port     = "http"
      provider = "nomad"
      tags     = ["metrics"]

      check {
        name     = "pvm health"
        type     = "http"
        path     = "/v1/health"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "daemon" {
      driver = "raw_exec"

      config {
        command = "/usr/bin/pvm"
        args = [
          "daemon",
          "--socket", "${NOMAD_TASK_DIR}/pvmd.sock",
          "--tcp", "0.0.0.0:7070",
          "--http", "0.0.0.0:7071",
          "--token-file", "${NOMAD_SECRETS_DIR}/token",
          "--allow-dir", "/srv/pvm",
          "--state-dir", "${NOMAD_TASK_DIR}",
        ]
      }

      template {
        destination = "${NOMAD_SECRETS_DIR}/token"
        perms       = "0600"
        data        = "{{ with nomadVar \"nomad/jobs/pvm\" }}{{ .token }}{{ end }}"
      }

      # Stopping the allocation stops its domains: drain first (pvm migrate --all --to URL).
      kill_signal  = "SIGTERM"
      kill_timeout = "60s"

      resources {
        cpu    = 2000
        memory = 4096
      }
    }
  }
}
