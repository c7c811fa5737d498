from dind_cluster.cli import main

main()
